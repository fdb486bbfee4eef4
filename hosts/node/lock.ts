// One simulator per state folder: two would run the same devices from the same files and
// delete each other's session. The lock is <state>/lock holding the owner's pid; a lock whose
// process is gone is stale and taken over.

import * as fs from "node:fs";
import * as path from "node:path";

export class StateLocked extends Error {}

/** Takes the state folder's lock; returns its release. Throws StateLocked when a live simulator holds it. */
export function lockState(state: string): () => void {
  fs.mkdirSync(state, { recursive: true });
  const file = path.join(state, "lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      return () => {
        try {
          if (fs.readFileSync(file, "utf8") === String(process.pid)) fs.rmSync(file);
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = Number(fs.readFileSync(file, "utf8"));
      if (alive(owner)) throw new StateLocked(`another simulator (pid ${owner}) is running on ${path.resolve(state)}; stop it, or give this one its own folder with --state DIR`);
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new StateLocked(`cannot take the lock ${file}`);
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
