// The wallet's storage on this device: one IndexedDB database of this origin, one object
// store of named records. Records: "wallet" ({file, protected, citizen, recipient}),
// "receipts" (the receipts of accepted statements), "ledgerKey" (the ledger's verifier key,
// pinned on first use), "lastCheckpoint" (size and root of the latest checkpoint verified),
// "registered" (true once the server accepted the registration), "witnesses" (the verifier
// keys of the witnesses the resident trusts).

const DB = "commons-wallet";
const STORE = "records";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

// get returns a record, or undefined.
export function get(name) {
  return run("readonly", (s) => s.get(name));
}

// put stores a record.
export function put(name, value) {
  return run("readwrite", (s) => s.put(value, name));
}

// remove deletes a record.
export function remove(name) {
  return run("readwrite", (s) => s.delete(name));
}
