/**
 * A recognition worker thread of `mien serve`: it holds its own expression model and detectors and turns encoded
 * images into the faces' JSON, so the server's event loop stays free to answer other requests (health checks,
 * 503s, uploads) while the detector's pre- and post-processing run.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { faceRecord } from '../core/face-record.js';
import { loadDetector } from '../detect/registry.js';
import { recognizerConfig } from '../recognize/config.js';
import { loadExpressionModel } from '../recognize/expression-model.js';
import { createRecognizer, type FaceDetector } from '../recognize/recognizer.js';
import { errorMessage, type FromWorker, type RecognitionJob, type ToWorker, type WorkerSetup } from './recognition-pool.js';

/** Detectors kept loaded for the settings asked for most recently; each DNN one holds two onnxruntime sessions. */
const CACHED_DETECTORS = 4;

type DetectorSettings = Pick<RecognitionJob['settings'], 'detector' | 'minFaceSize' | 'minConfidence'>;

/** Detectors by their settings, loaded on first use; the least recently used is freed when more are asked for. */
function detectorCache(): (settings: DetectorSettings) => Promise<FaceDetector | 'none'> {
  const cache = new Map<string, Promise<FaceDetector | 'none'>>();
  return ({ detector: name, minFaceSize, minConfidence }) => {
    const key = `${name}:${minFaceSize}:${minConfidence}`;
    let detector = cache.get(key);
    if (detector) {
      cache.delete(key);
    } else {
      detector = loadDetector(name, { minFaceSize, minConfidence });
      detector.catch(() => cache.delete(key));
    }
    cache.set(key, detector);
    if (cache.size > CACHED_DETECTORS) {
      const oldest = cache.keys().next().value!;
      void cache.get(oldest)!.then(
        (d) => (d === 'none' ? undefined : d.dispose?.()),
        () => undefined,
      );
      cache.delete(oldest);
    }
    return detector;
  };
}

const port = parentPort!;
const post = (message: FromWorker) => port.postMessage(message);

const setup = workerData as WorkerSetup;
try {
  const model = await loadExpressionModel(setup.modelPath);
  const detectorFor = detectorCache();
  // The default detector loads now: the first request should not pay for it, and a broken one should stop the start.
  await detectorFor(recognizerConfig({ detector: setup.detector }));
  port.on('message', async ({ id, job }: ToWorker) => {
    try {
      // The same checks as createRecognizer's (and so as the CLI's), before anything is loaded for the request.
      const settings = recognizerConfig({ ...job.settings, maxPixels: setup.maxPixels });
      const recognizer = await createRecognizer({ ...settings, model, detector: await detectorFor(settings) });
      const { width, height, faces } = await recognizer.analyze(Buffer.from(job.image.buffer, job.image.byteOffset, job.image.byteLength));
      post({ id, result: { width, height, faces: faces.map(faceRecord) } });
    } catch (err) {
      post({ id, error: errorMessage(err) });
    }
  });
  post({ ready: true });
} catch (err) {
  post({ startError: errorMessage(err) });
}
