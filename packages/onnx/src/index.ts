export { ProtoWriter } from './wire/writer.js';
