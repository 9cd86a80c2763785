export { TPM_ERROR_CODES } from './codes.ts';
