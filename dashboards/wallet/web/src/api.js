// The server's HTTP API, on the page's own origin. Requests carry public keys, signed
// statements and nothing else of the wallet.

// ApiError is an error answer: the server's code and fixed message.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, "network", "");
  }
  if (!res.ok) {
    let code = "http_" + res.status;
    let message = res.statusText;
    try {
      const e = (await res.json()).error;
      code = e.code;
      message = e.message;
    } catch {
      // not a JSON error body: keep the status
    }
    throw new ApiError(res.status, code, message);
  }
  return res;
}

export async function getJSON(path) {
  return (await request("GET", path)).json();
}

export async function getText(path) {
  return (await request("GET", path)).text();
}

export async function getBytes(path) {
  return new Uint8Array(await (await request("GET", path)).arrayBuffer());
}

export async function postJSON(path, body) {
  return (await request("POST", path, body)).json();
}
