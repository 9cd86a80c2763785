export { LOG_ERROR_CODES } from './codes.ts';
