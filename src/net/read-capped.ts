/**
 * A fetch Response's body, at most `limit` bytes: null once it declares or sends more (the rest
 * is not read). Web APIs only, so the Worker uses it too.
 */
export async function readCapped(
  res: Pick<Response, 'headers' | 'body'>,
  limit: number,
): Promise<Uint8Array | null> {
  if (Number(res.headers.get('content-length')) > limit) {
    await res.body?.cancel().catch(() => {});
    return null;
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
