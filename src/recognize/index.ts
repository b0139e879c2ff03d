export * from './expression-model.js';
