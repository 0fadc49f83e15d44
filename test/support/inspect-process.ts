// Asks a child Node process started with --inspect=127.0.0.1:0 how much heap it really uses (right after a full
// garbage collection), on its main thread and on each worker thread, over the inspector protocol (loopback only).
// This is the honest measure of a leak; RSS alone also counts garbage and memory the allocator keeps.

export interface Inspector {
  /** Heap in use per thread, in MB, right after a forced full collection: main first, then the workers. */
  heapAfterGcMb(): Promise<number[]>;
  close(): void;
}

interface Message { id?: number; method?: string; params?: Record<string, unknown>; result?: unknown }

const measure = 'process.memoryUsage().heapUsed';

export async function connectInspector(output: () => string, timeoutMs = 10_000): Promise<Inspector> {
  const deadline = Date.now() + timeoutMs;
  let url: string | undefined;
  while (!(url = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(output())?.[1])) {
    if (Date.now() > deadline) throw new Error('the child printed no inspector address');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error('inspector connection failed')), { once: true });
  });
  let nextId = 0;
  const pending = new Map<string, (result: unknown) => void>();
  const workers = new Set<string>();
  const settle = (key: string, message: Message) => {
    pending.get(key)?.(message.result);
    pending.delete(key);
  };
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as Message;
    if (message.id !== undefined) settle(`main:${message.id}`, message);
    else if (message.method === 'NodeWorker.attachedToWorker') workers.add(String(message.params?.sessionId));
    else if (message.method === 'NodeWorker.detachedFromWorker') workers.delete(String(message.params?.sessionId));
    else if (message.method === 'NodeWorker.receivedMessageFromWorker') {
      const inner = JSON.parse(String(message.params?.message)) as Message;
      if (inner.id !== undefined) settle(`${String(message.params?.sessionId)}:${inner.id}`, inner);
    }
  });
  const call = (session: string | undefined, method: string, params: Record<string, unknown> = {}) => new Promise<unknown>((resolve) => {
    const id = ++nextId;
    pending.set(`${session ?? 'main'}:${id}`, resolve);
    const message = JSON.stringify({ id, method, params });
    socket.send(session === undefined ? message : JSON.stringify({ id: ++nextId, method: 'NodeWorker.sendMessageToWorker', params: { sessionId: session, message } }));
  });
  const heapOf = async (session?: string) => {
    await call(session, 'HeapProfiler.collectGarbage');
    const answer = await call(session, 'Runtime.evaluate', { expression: measure, returnByValue: true }) as { result: { value: number } };
    return Math.round(answer.result.value / 1024 / 102.4) / 10;
  };
  await call(undefined, 'NodeWorker.enable', { waitForDebuggerOnStart: false });
  return {
    async heapAfterGcMb() {
      return [await heapOf(), ...await Promise.all([...workers].map((session) => heapOf(session)))];
    },
    close: () => socket.close(),
  };
}
