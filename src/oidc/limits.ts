/** Size limits on issuer documents: far above what any real cluster publishes, far below harm. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;
export const MAX_KEYS = 50;
export const MAX_KID_LENGTH = 256;
