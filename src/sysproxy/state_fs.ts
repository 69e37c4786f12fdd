/**
 * The few file operations the state files need, behind an interface so tests can use memory
 * and simulate crashes. Writes are atomic (temp file in the same folder, then rename or link) so
 * a crash never leaves a half-written state file that would lose what must be restored.
 *
 * @module
 */

/** File access for `<home>/.ktctl/`. Paths are full paths; names are plain file names. */
export interface StateFs {
  /** Creates the folder and its parents if missing. */
  ensureDir(dir: string): Promise<void>;
  /** File names in `dir`; empty when it does not exist. */
  list(dir: string): Promise<string[]>;
  /** The file's text, or `undefined` when it does not exist. */
  read(path: string): Promise<string | undefined>;
  /** Replaces (or creates) the file atomically. */
  writeAtomic(path: string, text: string): Promise<void>;
  /** Creates the file atomically only if it does not exist yet; `false` when it already did. */
  createExclusive(path: string, text: string): Promise<boolean>;
  /** Removes the file; a missing file is not an error. */
  remove(path: string): Promise<void>;
  /** The same, synchronously (for a process that is about to be ended and cannot await). */
  removeSync(path: string): void;
}

/** Temp files carry the writer's pid so `clean` can tell a dead writer's leftovers. */
export function tempPath(path: string, pid: number): string {
  return `${path}.${pid}.tmp`;
}

/** The target name and writer pid of a temp file name made by {@link tempPath}, if it is one. */
export function parseTempName(name: string): { target: string; pid: number } | undefined {
  const match = /^(.+)\.(\d+)\.tmp$/.exec(name);
  return match ? { target: match[1], pid: Number(match[2]) } : undefined;
}

/** The real state files, through Deno's file system API. */
export class DenoStateFs implements StateFs {
  constructor(private readonly pid: number = Deno.pid) {}

  async ensureDir(dir: string): Promise<void> {
    await Deno.mkdir(dir, { recursive: true });
  }

  async list(dir: string): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(dir)) if (entry.isFile) names.push(entry.name);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    return names.sort();
  }

  async read(path: string): Promise<string | undefined> {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  async writeAtomic(path: string, text: string): Promise<void> {
    const temp = await this.writeTemp(path, text);
    await Deno.rename(temp, path);
  }

  async createExclusive(path: string, text: string): Promise<boolean> {
    const temp = await this.writeTemp(path, text);
    try {
      // A hard link fails if the target exists, so two racing connects cannot both win.
      await Deno.link(temp, path);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      throw error;
    } finally {
      await this.remove(temp);
    }
  }

  async remove(path: string): Promise<void> {
    try {
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  removeSync(path: string): void {
    try {
      Deno.removeSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  private async writeTemp(path: string, text: string): Promise<string> {
    const temp = tempPath(path, this.pid);
    const data = new TextEncoder().encode(text);
    using file = await Deno.open(temp, { write: true, create: true, truncate: true });
    for (let done = 0; done < data.length;) done += await file.write(data.subarray(done));
    await file.sync();
    return temp;
  }
}
