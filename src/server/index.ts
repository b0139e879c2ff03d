export { createServer, type MienServer, type ServerOptions } from './server.js';
export { DEFAULT_HOST, DEFAULT_PORT, ServeError } from './listen.js';
export { QueueFullError, WorkQueue, type WorkQueueOptions } from './queue.js';
