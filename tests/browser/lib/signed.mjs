// Requests to the /v1 API signed as Tencent Meeting specifies (docs/tencent-api.md), by default
// with the dev enterprise's credentials of `huiyi serve --dev`.

import { createHmac, randomInt } from 'node:crypto';

export const DEV_CREDENTIAL = { appId: 'dev-app', sdkId: 'dev-sdk', secretId: 'devkey', secretKey: 'secret' };

/** @returns {Promise<{ status: number, answer: any }>} the HTTP status and the parsed JSON body */
export async function signedFetch(base, method, uri, body, cred = DEV_CREDENTIAL) {
  const text = body === undefined ? '' : JSON.stringify(body);
  const ts = String(Math.floor(Date.now() / 1000));
  const nonce = String(randomInt(1, 2 ** 40));
  const toSign = `${method}\nX-TC-Key=${cred.secretId}&X-TC-Nonce=${nonce}&X-TC-Timestamp=${ts}\n${uri}\n${text}`;
  const signature = Buffer.from(createHmac('sha256', cred.secretKey).update(toSign).digest('hex')).toString('base64');
  const res = await fetch(`${base}${uri}`, {
    method,
    headers: { 'content-type': 'application/json', 'X-TC-Key': cred.secretId, 'X-TC-Timestamp': ts, 'X-TC-Nonce': nonce,
      'X-TC-Signature': signature, AppId: cred.appId, ...(cred.sdkId ? { SdkId: cred.sdkId } : {}) },
    body: body === undefined ? undefined : text,
  });
  return { status: res.status, answer: await res.json().catch(() => null) };
}
