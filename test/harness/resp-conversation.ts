/** A RESP conversation on one raw connection, as a client sees it: commands in one write, reply frames as Redis' bytes. */
import { Socket } from "node:net";
import { encodeCommand } from "../../src/upstreams/redis/resp/encoder.js";
import { ReplyParser } from "../../src/upstreams/redis/resp/reply-parser.js";

export type Conversation = Awaited<ReturnType<typeof conversation>>;

export async function conversation(port: number) {
  const socket = new Socket();
  const frames: string[] = [];
  let wake: (() => void) | undefined;
  const parser = new ReplyParser((_, raw) => {
    frames.push(Buffer.from(raw).toString("latin1"));
    wake?.();
  });
  socket.on("data", (c: Buffer) => parser.feed(c));
  await new Promise<void>((resolve) => socket.connect(port, "127.0.0.1", () => resolve()));
  return {
    /** Send `commands` in one write (none: only wait), then the next `n` reply frames (fewer after 5 s). */
    async send(commands: string[][], n = commands.length): Promise<string[]> {
      if (commands.length) socket.write(Buffer.concat(commands.map((c) => encodeCommand(c))));
      const until = Date.now() + 5_000;
      while (frames.length < n && Date.now() < until) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
      return frames.splice(0, n);
    },
    /** Frames that came and were not asked for (after a short wait). */
    async extra(): Promise<string[]> {
      await new Promise((r) => setTimeout(r, 100));
      return frames.splice(0);
    },
    close: () => socket.destroy(),
  };
}
