package edgelmk.core

import kotlin.math.ceil
import kotlin.math.exp

/** A detected face in photo pixels: box, score and BlazeFace's 6 keypoints (x, y interleaved). */
data class Detection(val score: Double, val xMin: Double, val yMin: Double, val width: Double, val height: Double,
                     val keypoints: DoubleArray) {
    val cx get() = xMin + width / 2.0
    val cy get() = yMin + height / 2.0
}

/**
 * Pre- and post-processing for MediaPipe's BlazeFace short-range detector
 * (``mediapipe/modules/face_detection/face_detection_short_range.tflite``, Apache-2.0),
 * following its graph: 128x128 RGB input in [-1, 1], the photo letterboxed (aspect kept);
 * 896 SSD anchors (strides 8, 16, 16, 16; fixed anchor size; offset 0.5); outputs
 * ``regressors`` (1, 896, 16) and ``classificators`` (1, 896, 1); box and keypoints decoded
 * with scale 128 relative to the anchor centre; sigmoid scores clipped at +-100;
 * weighted non-maximum suppression at IoU 0.3; minimum score 0.5.
 */
object BlazeFace {
    const val INPUT_SIZE = 128
    const val NUM_ANCHORS = 896
    const val NUM_COORDS = 16
    const val NUM_KEYPOINTS = 6
    private val STRIDES = intArrayOf(8, 16, 16, 16)
    private const val SCALE = 128.0

    /** Anchor centres (x, y interleaved, normalised 0..1) in the model's output order. */
    val anchors: DoubleArray by lazy { buildAnchors() }

    private fun buildAnchors(): DoubleArray {
        val out = ArrayList<Double>(NUM_ANCHORS * 2)
        var layer = 0
        while (layer < STRIDES.size) {
            // consecutive layers with the same stride share one feature map; each layer adds
            // two anchors per cell (its aspect ratio 1.0 plus the interpolated scale)
            var last = layer
            var perCell = 0
            while (last < STRIDES.size && STRIDES[last] == STRIDES[layer]) { perCell += 2; last++ }
            val fm = ceil(INPUT_SIZE.toDouble() / STRIDES[layer]).toInt()
            for (y in 0 until fm) for (x in 0 until fm) repeat(perCell) {
                out.add((x + 0.5) / fm); out.add((y + 0.5) / fm)
            }
            layer = last
        }
        check(out.size == NUM_ANCHORS * 2) { "anchor count ${out.size / 2}" }
        return out.toDoubleArray()
    }

    /**
     * Letterbox the whole photo into the 128x128 input (a square on the photo centre with
     * side = max(width, height), sampled with the same [Cropper] as the landmark crop, zeros
     * outside) -> NHWC floats in [-1, 1] and the crop -> photo affine for decoding.
     */
    fun prepareInput(image: RgbImage): Pair<FloatArray, Affine> {
        val square = FaceSquare(image.width / 2.0, image.height / 2.0, maxOf(image.width, image.height).toDouble())
        val crop = Cropper.crop(image, square, INPUT_SIZE)
        val x = FloatArray(crop.pixels.size) { crop.pixels[it] / 127.5f - 1f }
        return x to crop.toPhoto
    }

    /**
     * Decode raw outputs -> detections in photo pixels, best first. [regressors] is
     * (896 * 16), [classificators] (896) logits; [toPhoto] comes from [prepareInput].
     */
    fun decode(regressors: FloatArray, classificators: FloatArray, toPhoto: Affine,
               minScore: Double = 0.5, iouThreshold: Double = 0.3): List<Detection> {
        require(regressors.size == NUM_ANCHORS * NUM_COORDS && classificators.size == NUM_ANCHORS) {
            "expected ${NUM_ANCHORS}x$NUM_COORDS regressors and $NUM_ANCHORS scores, got ${regressors.size} and ${classificators.size}"
        }
        val raw = ArrayList<Detection>()
        for (i in 0 until NUM_ANCHORS) {
            val score = 1.0 / (1.0 + exp(-classificators[i].toDouble().coerceIn(-100.0, 100.0)))
            if (score < minScore) continue
            val r = i * NUM_COORDS
            val ax = anchors[2 * i]; val ay = anchors[2 * i + 1]
            // normalised input coordinates (anchor size is fixed at 1)
            val cx = regressors[r] / SCALE + ax; val cy = regressors[r + 1] / SCALE + ay
            val w = regressors[r + 2] / SCALE; val h = regressors[r + 3] / SCALE
            val kp = DoubleArray(2 * NUM_KEYPOINTS) { k ->
                regressors[r + 4 + k] / SCALE + (if (k % 2 == 0) ax else ay)
            }
            raw.add(toPhoto(score, cx - w / 2, cy - h / 2, w, h, kp, toPhoto))
        }
        return weightedNms(raw, iouThreshold)
    }

    private fun toPhoto(score: Double, x0: Double, y0: Double, w: Double, h: Double, kp: DoubleArray, a: Affine): Detection {
        val s = INPUT_SIZE.toDouble()
        val px0 = a.x(x0 * s, y0 * s); val py0 = a.y(x0 * s, y0 * s)
        val px1 = a.x((x0 + w) * s, (y0 + h) * s); val py1 = a.y((x0 + w) * s, (y0 + h) * s)
        val pk = a.applyTo(DoubleArray(kp.size) { kp[it] * s })
        return Detection(score, minOf(px0, px1), minOf(py0, py1), Math.abs(px1 - px0), Math.abs(py1 - py0), pk)
    }

    fun iou(a: Detection, b: Detection): Double {
        val ix = maxOf(0.0, minOf(a.xMin + a.width, b.xMin + b.width) - maxOf(a.xMin, b.xMin))
        val iy = maxOf(0.0, minOf(a.yMin + a.height, b.yMin + b.height) - maxOf(a.yMin, b.yMin))
        val inter = ix * iy
        val union = a.width * a.height + b.width * b.height - inter
        return if (union <= 0.0) 0.0 else inter / union
    }

    /**
     * MediaPipe's WEIGHTED suppression: take the best remaining detection, gather every
     * remaining one overlapping it by more than [iouThreshold], and replace them by their
     * score-weighted mean box and keypoints, keeping the best score.
     */
    fun weightedNms(detections: List<Detection>, iouThreshold: Double): List<Detection> {
        val remaining = detections.sortedByDescending { it.score }.toMutableList()
        val out = ArrayList<Detection>()
        while (remaining.isNotEmpty()) {
            val best = remaining[0]
            val group = remaining.filter { iou(best, it) > iouThreshold || it === best }
            remaining.removeAll { g -> group.any { it === g } }
            val total = group.sumOf { it.score }
            fun mean(f: (Detection) -> Double) = group.sumOf { f(it) * it.score } / total
            out.add(Detection(best.score, mean { it.xMin }, mean { it.yMin }, mean { it.width }, mean { it.height },
                DoubleArray(best.keypoints.size) { k -> mean { it.keypoints[k] } }))
        }
        return out
    }
}

/**
 * Detector box -> the landmark crop square. A BlazeFace box is not the 68-landmark box
 * (it is square, tops out at the brows and the landmarks reach the jaw line), so the
 * square is the box centre shifted by ([offsetX], [offsetY]) x box size, with side
 * cropScale x [extentPerBox] x box size. Defaults fitted on the 64 bundled test faces
 * (``android_demo/tools/blazeface_fixture.py``, all 64 detected): landmark extent / box
 * median 0.949 (p10 0.901, p90 1.036); landmark-box centre - box centre = (-0.004, +0.067)
 * x box. The pipeline then re-crops once on the landmark rule, so these only need to put
 * the face well inside the first crop.
 */
data class DetectorSquare(val extentPerBox: Double = 0.95, val offsetX: Double = 0.0, val offsetY: Double = 0.067) {
    fun square(d: Detection, cropScale: Double): FaceSquare {
        val size = maxOf(d.width, d.height)
        return FaceSquare(d.cx + offsetX * size, d.cy + offsetY * size, cropScale * extentPerBox * size)
    }
}
