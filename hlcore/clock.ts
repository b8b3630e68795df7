// Time as hlcore sees it (DESIGN.md: no Date.now or setTimeout inside hlcore). A real deployment
// passes a wall-clock implementation; the simulator passes one driven by the board's cycles.

export interface Clock {
  /** Milliseconds since the Unix epoch (simulated in the simulator). Never goes backwards. */
  now(): number;
  /** Call fn once at `atMs` (a time of now()); returns a cancel function. */
  at(atMs: number, fn: () => void): () => void;
}
