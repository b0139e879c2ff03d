/**
 * A recognition worker thread of `mien serve`: it holds its own expression model and detectors and turns encoded
 * images into the faces' JSON, so the server's event loop stays free to answer other requests (health checks,
 * 503s, uploads) while the detector's pre- and post-processing run.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { detectorByName, type DetectorName } from '../recognize/detectors.js';
import { loadExpressionModel } from '../recognize/expression-model.js';
import { faceRecord } from '../core/face-record.js';
import { decodeImage } from '../recognize/image.js';
import { createRecognizer, type FaceDetector } from '../recognize/recognizer.js';
import { errorMessage, type FromWorker, type ToWorker, type WorkerSetup } from './recognition-pool.js';

/** Detectors kept loaded for the (detector, min-face) pairs asked for most recently; each DNN one holds two sessions. */
const CACHED_DETECTORS = 4;

/** Detectors by (name, min-face), created on first use; the least recently used goes when more are asked for. */
function detectorCache(): (name: DetectorName, minFace: number) => Promise<FaceDetector | 'none'> {
  const cache = new Map<string, Promise<FaceDetector | 'none'>>();
  return (name, minFace) => {
    const key = `${name}:${minFace}`;
    let detector = cache.get(key);
    if (detector) {
      cache.delete(key);
    } else {
      detector = detectorByName(name, { minFaceSize: minFace || undefined });
      detector.catch(() => cache.delete(key));
    }
    cache.set(key, detector);
    if (cache.size > CACHED_DETECTORS) cache.delete(cache.keys().next().value!);
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
  await detectorFor(setup.detector, 0);
  port.on('message', async ({ id, job }: ToWorker) => {
    try {
      const recognizer = await createRecognizer({
        model,
        detector: await detectorFor(job.detector, job.minFace),
        minFaceSize: job.minFace,
        tta: job.tta,
        maxPixels: setup.maxPixels,
      });
      const image = await decodeImage(Buffer.from(job.image.buffer, job.image.byteOffset, job.image.byteLength), setup.maxPixels);
      const faces = await recognizer.recognizeImage(image);
      post({ id, result: { width: image.width, height: image.height, faces: faces.map(faceRecord) } });
    } catch (err) {
      post({ id, error: errorMessage(err) });
    }
  });
  post({ ready: true });
} catch (err) {
  post({ startError: errorMessage(err) });
}
