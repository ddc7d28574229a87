package edgelmk.core

/**
 * Photo (upright analysis frame) -> view coordinates for the overlay, for a preview shown
 * with PreviewView's default FILL_CENTER (uniform scale to cover the view, centred) and
 * mirrored for the front camera. Assumes preview and analysis share the aspect ratio
 * (the app requests 4:3 for both).
 */
class ViewTransform(imageWidth: Int, imageHeight: Int, private val viewWidth: Double, viewHeight: Double,
                    private val mirror: Boolean) {
    val scale = maxOf(viewWidth / imageWidth, viewHeight / imageHeight)
    private val offsetX = (viewWidth - imageWidth * scale) / 2.0
    private val offsetY = (viewHeight - imageHeight * scale) / 2.0

    fun x(px: Double, py: Double): Double { val v = offsetX + px * scale; return if (mirror) viewWidth - v else v }
    fun y(px: Double, py: Double): Double = offsetY + py * scale

    /** Interleaved photo points -> interleaved view points. */
    fun map(points: DoubleArray): FloatArray = FloatArray(points.size).also { out ->
        for (i in 0 until points.size / 2) {
            out[2 * i] = x(points[2 * i], points[2 * i + 1]).toFloat()
            out[2 * i + 1] = y(points[2 * i], points[2 * i + 1]).toFloat()
        }
    }
}
