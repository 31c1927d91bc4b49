import autocannon from 'autocannon';
import type { RequestSource } from '../scenarios/types.js';
import { emptySample, recordResponse, type LoadSample } from './sample.js';

/**
 * Maximum-rate load: autocannon with keep-alive connections, each sending its next request
 * as soon as the previous one is answered. A request's tag rides in autocannon's
 * per-connection context from setupRequest to that request's onResponse.
 */
type Context = { tag?: unknown };

export function runClosedLoop(url: string, source: RequestSource, options: { connections: number; durationS: number }): Promise<LoadSample> {
  const sample = emptySample();
  const onResponse = source.onResponse;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: options.connections,
        duration: options.durationS,
        timeout: 10,
        requests: [
          {
            method: 'GET',
            path: '/',
            setupRequest: (request, context) => {
              const { tag, ...spec } = source.next();
              (context as Context).tag = tag;
              return { ...request, ...spec };
            },
            ...(onResponse ? { onResponse: (status: number, body: string, context: object) => onResponse(status, body, (context as Context).tag) } : {}),
          },
        ],
      },
      (err, result) => {
        if (err) return reject(err);
        sample.durationS = result.duration;
        sample.errors = result.errors;
        sample.timeouts = result.timeouts;
        resolve(sample);
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => recordResponse(sample, statusCode, responseTime));
  });
}
