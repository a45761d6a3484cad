// An independent ActivityPub follower for the Go tests of package activitypub, built with
// Fedify (a TypeScript ActivityPub framework Commons does not otherwise use).
//
// Usage: node follower.mjs ACCOUNT   (ACCOUNT: acct:old-town@127.0.0.1:PORT)
//
// It serves the actor "alice" on a free loopback port, looks ACCOUNT up through WebFinger,
// reads its actor document with Fedify and sends it a Follow signed by alice. It prints one
// JSON line on stdout per event: "listening" (its origin), "following" (the actor as Fedify
// read it), and "post" for every request its inbox received, with the raw body and the status
// Fedify answered (202 only once Fedify verified the HTTP Signature against the sender's key).
// A line "undo" on stdin makes alice send Undo of her Follow, then print "undone".
import http from "node:http";
import readline from "node:readline";
import {
  Accept, createFederation, Create, Endpoints, Follow, generateCryptoKeyPair, MemoryKvStore,
  Person, Undo,
} from "@fedify/fedify";

const account = process.argv[2];
const print = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const fail = (err) => { print({ event: "error", error: String(err?.stack ?? err) }); process.exit(1); };

const keys = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
const federation = createFederation({ kv: new MemoryKvStore(), allowPrivateAddress: true });
federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== "alice") return null;
    const [pair] = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier), preferredUsername: identifier, name: "Alice",
      inbox: ctx.getInboxUri(identifier), endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: pair.cryptographicKey,
    });
  })
  .setKeyPairsDispatcher(async (_ctx, identifier) => (identifier === "alice" ? [keys] : []));
federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Accept, async () => {})
  .on(Create, async () => {});

let origin;
const server = http.createServer(async (req, res) => {
  try {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
    const request = new Request(new URL(req.url, origin), {
      method: req.method, headers, body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
    });
    const response = await federation.fetch(request, { contextData: undefined });
    const out = Buffer.from(await response.arrayBuffer());
    if (req.method === "POST") {
      print({ event: "post", path: req.url, status: response.status, body: body.toString("utf8"),
        signature: req.headers["signature"] ?? "" });
    }
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(out);
  } catch (err) {
    print({ event: "error", error: String(err?.stack ?? err) });
    res.writeHead(500);
    res.end();
  }
});

server.listen(0, "127.0.0.1", async () => {
  try {
    origin = `http://127.0.0.1:${server.address().port}`;
    print({ event: "listening", origin });
    const ctx = federation.createContext(new URL(origin), undefined);
    // WebFinger over plain HTTP (Fedify's own lookup of a handle assumes https).
    const host = account.replace(/^acct:[^@]*@/, "");
    const jrd = await (await fetch(`http://${host}/.well-known/webfinger?resource=${encodeURIComponent(account)}`)).json();
    const self = jrd.links.find((l) => l.rel === "self" && l.type === "application/activity+json");
    const target = await ctx.lookupObject(self.href);
    if (target == null) throw new Error(`Fedify could not read the actor at ${self.href}`);
    const key = await target.getPublicKey();
    print({ event: "following", id: target.id?.href, type: target.constructor.name,
      username: target.preferredUsername?.toString(), inbox: target.inboxId?.href, key: key?.id?.href });
    const follow = new Follow({ id: new URL(`${origin}/follows/1`), actor: ctx.getActorUri("alice"), object: target.id });
    await ctx.sendActivity({ identifier: "alice" }, target, follow, { immediate: true });
    const rl = readline.createInterface({ input: process.stdin });
    rl.on("line", async (line) => {
      try {
        if (line.trim() !== "undo") return;
        await ctx.sendActivity({ identifier: "alice" }, target,
          new Undo({ id: new URL(`${origin}/follows/1/undo`), actor: ctx.getActorUri("alice"), object: follow }),
          { immediate: true });
        print({ event: "undone" });
      } catch (err) { fail(err); }
    });
    rl.on("close", () => process.exit(0));
  } catch (err) { fail(err); }
});
