export { IMA_ERROR_CODES } from './codes.ts';
