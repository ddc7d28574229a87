package edgelmk.core

/**
 * Tracking from the previous frame's landmarks, so the face detector runs only when the
 * track is lost: the next crop is the contract's own crop rule applied to the last
 * landmarks (square on their box centre, side = cropScale * larger extent), and every
 * result passes a sanity check before it may seed the next frame.
 *
 * Sanity check (all must hold, else re-detect):
 *  - confidence: mean predicted scale <= [maxMeanScaleFraction] * input size (crop pixels).
 *    Calibrated on the 64 bundled test faces with the interim laplacekl_w1_8 weights: face
 *    crops median 2.6 px (max 6.5) of 80, crops shifted off the face by 0.8 side median
 *    12.2 px (min 4.8); 0.1 * 80 = 8 px sits between. Recalibrate when the weights change.
 *  - geometry: inter-ocular distance (36-45) / (cropScale * landmark extent) within
 *    [[minIodRatio], [maxIodRatio]]; ground truth on the sample spans 0.35-0.53, so
 *    0.25-0.75 rejects collapsed or exploded landmark sets without rejecting real faces.
 *  - size: landmark extent >= [minExtentPx] photo pixels (a smaller face cannot be cropped usefully).
 *  - position: the next square's centre lies inside the photo.
 */
data class TrackingPolicy(
    val cropScale: Double,
    val inputSize: Int,
    val maxMeanScaleFraction: Double = 0.1,
    val minIodRatio: Double = 0.25,
    val maxIodRatio: Double = 0.75,
    val minExtentPx: Double = 16.0,
) {
    enum class Verdict { OK, LOW_CONFIDENCE, BAD_GEOMETRY, TOO_SMALL, OUTSIDE }

    /** The next frame's crop square from this frame's (raw, unsmoothed) photo landmarks. */
    fun nextSquare(photoLandmarks: DoubleArray): FaceSquare = FaceGeometry.faceSquare(photoLandmarks, cropScale)

    fun check(photoLandmarks: DoubleArray, output: LandmarkOutput, imageWidth: Int, imageHeight: Int): Verdict {
        if (photoLandmarks.any { !it.isFinite() }) return Verdict.BAD_GEOMETRY
        if (output.meanScale() > maxMeanScaleFraction * inputSize) return Verdict.LOW_CONFIDENCE
        val (cx, cy, extent) = FaceGeometry.landmarkBox(photoLandmarks)
        if (extent < minExtentPx) return Verdict.TOO_SMALL
        val ratio = FaceGeometry.interOcular(photoLandmarks) / (cropScale * extent)
        if (ratio < minIodRatio || ratio > maxIodRatio) return Verdict.BAD_GEOMETRY
        if (cx < 0 || cy < 0 || cx >= imageWidth || cy >= imageHeight) return Verdict.OUTSIDE
        return Verdict.OK
    }

    companion object {
        fun forContract(c: PreprocessContract) = TrackingPolicy(c.cropScale, c.inputSize)
    }
}
