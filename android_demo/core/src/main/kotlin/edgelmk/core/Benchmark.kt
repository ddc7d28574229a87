package edgelmk.core

/**
 * The benchmark loop, runtime-agnostic: every face is cropped from its ground truth by the
 * contract (as ``edge_lmk.evaluate`` does), run [repeats] times after [warmup] untimed runs,
 * decoded to photo pixels and scored. Latency is model execution only (crop and decode
 * excluded), one sample per run; NME is the mean over faces of the first run's landmarks.
 */
class Benchmark(private val contract: PreprocessContract, private val warmup: Int = 5, private val repeats: Int = 3,
                private val clock: () -> Long = System::nanoTime) {
    class Measured(val latency: LatencyStats, val nme: Double, val n: Int)

    fun run(model: LandmarkModel, faces: FaceSet): Measured {
        require(faces.size > 0) { "no benchmark faces" }
        val samples = ArrayList<Double>()
        var nmeSum = 0.0
        for (i in 0 until faces.size) {
            val face = faces.load(i)
            val crop = Cropper.crop(face.image, FaceGeometry.faceSquare(face.landmarks, contract.cropScale), contract.inputSize)
            val input = ModelIO.toNchw(crop, contract.pixelScale)
            if (i == 0) repeat(warmup) { model.run(input) }
            var first: LandmarkOutput? = null
            repeat(repeats) {
                val t0 = clock()
                val out = model.run(input)
                samples.add((clock() - t0) / 1e6)
                if (first == null) first = out
            }
            nmeSum += Nme.perFace(ModelIO.toPhoto(first!!, crop), face.landmarks)
        }
        return Measured(LatencyStats.of(samples.toDoubleArray()), nmeSum / faces.size, faces.size)
    }
}
