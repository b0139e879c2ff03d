export * from './spec.js';
export * from './zoo.js';
export * from './summary.js';
export * from './graph.js';
export { PictureFormatError } from '../core/picture.js';
