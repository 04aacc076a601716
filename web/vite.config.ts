// The huiyi server serves web/dist at `/`. During `npm run dev`, Vite proxies the server's HTTP
// API and LiveKit signalling to a `huiyi serve --dev` (default port, or HUIYI_URL), so the page
// behaves as it does when the server itself serves it.
//
// MediaPipe's selfie segmentation is a classic script that fetches its WebAssembly and model
// files by name, so the package's files are copied whole to dist/effects/mediapipe (served by
// Huiyi: a meeting behind a firewall never reaches a CDN).
import { defineConfig, loadEnv } from 'vite';
import { viteStaticCopy } from 'vite-plugin-static-copy';

export default defineConfig(({ mode }) => {
  const server = loadEnv(mode, '.', 'HUIYI_').HUIYI_URL ?? 'http://127.0.0.1:7880';
  return {
    plugins: [
      viteStaticCopy({
        targets: [
          {
            src: [
              'node_modules/@mediapipe/selfie_segmentation/*.{js,wasm,data,binarypb,tflite}',
              'node_modules/@mediapipe/selfie_segmentation/LICENSE*',
            ],
            dest: 'effects/mediapipe',
          },
        ],
      }),
    ],
    build: {
      outDir: 'dist',
      emptyOutDir: true,
      // livekit-client alone is ~500 kB minified; one chunk is fine for a meeting app.
      chunkSizeWarningLimit: 1024,
    },
    server: {
      proxy: {
        '/api': server,
        '/rtc': { target: server, ws: true },
      },
    },
  };
});
