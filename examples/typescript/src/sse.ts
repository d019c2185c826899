// A minimal reader of server-sent events (the frame format of the spec's SseFrame): lines
// `field: value`, a blank line ending a frame, `:` lines being comments.

/** One frame, its data decoded from JSON (as the spec's SseFrame describes it). */
export interface Frame {
  id?: string;
  event?: string;
  data?: unknown;
  retry?: number;
}

/** Reads frames from a text/event-stream body until the caller stops iterating. */
export async function* frames(body: ReadableStream<Uint8Array>): AsyncGenerator<Frame> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const frame: Frame = {};
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line === "" || line.startsWith(":")) continue; // a comment (`: ping`)
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") frame.id = value;
        else if (field === "event") frame.event = value;
        else if (field === "data") data.push(value);
        else if (field === "retry") frame.retry = Number(value);
      }
      if (data.length > 0) frame.data = JSON.parse(data.join("\n"));
      if (Object.keys(frame).length > 0) yield frame;
    }
  }
}
