package edgelmk.core

/** NME as ``edge_lmk.metrics.nme_per_face``: mean point error / inter-ocular (36, 45), in percent. */
object Nme {
    fun perFace(pred: DoubleArray, gt: DoubleArray): Double {
        require(pred.size == gt.size && pred.size % 2 == 0 && pred.size > 2 * FaceGeometry.RIGHT_EYE_OUTER) {
            "expected matching 68-point arrays, got ${pred.size} and ${gt.size} values"
        }
        val n = pred.size / 2
        var err = 0.0
        for (i in 0 until n) {
            val dx = pred[2 * i] - gt[2 * i]; val dy = pred[2 * i + 1] - gt[2 * i + 1]
            err += Math.sqrt(dx * dx + dy * dy)
        }
        return 100.0 * (err / n) / FaceGeometry.interOcular(gt)
    }
}

/** Latency summary with numpy's definitions (median; percentile with linear interpolation). */
data class LatencyStats(val median: Double, val p90: Double, val runs: Int) {
    companion object {
        fun of(samplesMs: DoubleArray): LatencyStats {
            require(samplesMs.isNotEmpty()) { "no latency samples" }
            val s = samplesMs.sortedArray()
            return LatencyStats(median(s), percentile(s, 90.0), s.size)
        }

        /** numpy.median on sorted data: the middle value, or the mean of the two middle ones. */
        fun median(sorted: DoubleArray): Double {
            val n = sorted.size
            return if (n % 2 == 1) sorted[n / 2] else (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        }

        /** numpy.percentile(method="linear") on sorted data, including numpy's two-sided lerp. */
        fun percentile(sorted: DoubleArray, q: Double): Double {
            val idx = q / 100.0 * (sorted.size - 1)
            val lo = Math.floor(idx).toInt()
            val hi = minOf(lo + 1, sorted.size - 1)
            val t = idx - lo
            val a = sorted[lo]; val b = sorted[hi]
            val d = b - a
            return if (t >= 0.5) b - d * (1.0 - t) else a + d * t
        }
    }
}
