// Streamed text (content, reasoning, tool-call arguments) arrives a token or two at a time, and is held until
// the stream ends. `text += piece` keeps it as a rope: one cons cell (32 bytes) plus the piece's own string
// (24 bytes or more) per token, all promoted with the long-lived stream, so a 2,000-token answer holds about
// 110 KB of heap for 8 KB of text. Here the pieces are joined every 32 into one flat string instead.

const piecesPerBlock = 32;

export class TextBuilder {
  #blocks: string[] = [];
  #pieces: string[] = [];
  #length = 0;

  add(piece: string): void {
    if (piece.length === 0) return;
    this.#length += piece.length;
    this.#pieces.push(piece);
    if (this.#pieces.length === piecesPerBlock) {
      this.#blocks.push(this.#pieces.join(''));
      this.#pieces.length = 0;
    }
  }

  /** Characters added so far. */
  get length(): number {
    return this.#length;
  }

  toString(): string {
    if (this.#pieces.length > 0) {
      this.#blocks.push(this.#pieces.join(''));
      this.#pieces.length = 0;
    }
    if (this.#blocks.length > 1) this.#blocks = [this.#blocks.join('')];
    return this.#blocks[0] ?? '';
  }
}
