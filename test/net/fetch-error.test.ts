import { describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin-client/client.js';
import { describeFetchError } from '../../src/net/fetch-error.js';
import { freePort } from '../support/net.js';

/** What fetch throws, described for an operator, without what the request carried. */
describe('describeFetchError', () => {
  const secret = 'ya29.very-secret-token';

  it('never quotes a header value fetch refused (it is a bearer token)', async () => {
    const err = await fetch('http://127.0.0.1:1/', {
      headers: { authorization: `Bearer ${secret}\nX: y` },
    }).catch((e: unknown) => e);
    expect(String((err as Error).message)).toContain(secret); // what undici would print
    const described = describeFetchError(err, 5000);
    expect(described).not.toContain(secret);
    expect(described).toMatch(/header value \(a token\) is invalid/);
  });

  it('names refused connections and timeouts', async () => {
    const port = await freePort();
    expect(
      describeFetchError(await fetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e), 5000),
    ).toMatch(/connection refused/);
    expect(describeFetchError(Object.assign(new Error('x'), { name: 'TimeoutError' }), 5000)).toBe(
      'no answer within 5 s',
    );
  });

  it("keeps an admin token with a stray line break out of the admin client's error", async () => {
    const token = `${secret}-admin\nline2`;
    const client = new AdminClient({ api: 'http://127.0.0.1:1', token });
    const err = await client.list().catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/cannot reach the registration API/);
    expect((err as Error).message).not.toContain(secret);
  });
});
