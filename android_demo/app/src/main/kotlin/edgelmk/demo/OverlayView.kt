package edgelmk.demo

import android.content.Context
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import android.util.AttributeSet
import android.util.TypedValue
import android.view.View
import edgelmk.core.ViewTransform

/** Draws the 68 smoothed landmarks over the preview and one line of latency / FPS. */
class OverlayView(context: Context, attrs: AttributeSet?) : View(context, attrs) {
    private val point = Paint(Paint.ANTI_ALIAS_FLAG).apply { color = Color.GREEN; style = Paint.Style.FILL }
    private val text = Paint(Paint.ANTI_ALIAS_FLAG).apply {
        color = Color.WHITE
        textSize = TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_SP, 14f, resources.displayMetrics)
        setShadowLayer(4f, 0f, 0f, Color.BLACK)
    }
    private var frame: FrameAnalyzer.Frame? = null
    var mirror = false
    var message: String? = null
        set(v) { field = v; postInvalidate() }

    fun show(f: FrameAnalyzer.Frame) { frame = f; postInvalidate() }

    override fun onDraw(canvas: Canvas) {
        super.onDraw(canvas)
        val f = frame
        var y = 40f * resources.displayMetrics.density
        message?.let { canvas.drawText(it, 16f, y, text); y += text.textSize * 1.3f }
        if (f == null) return
        f.result.smoothed?.let { pts ->
            val t = ViewTransform(f.imageWidth, f.imageHeight, width.toDouble(), height.toDouble(), mirror)
            val v = t.map(pts)
            val r = 2.5f * resources.displayMetrics.density
            for (i in 0 until v.size / 2) canvas.drawCircle(v[2 * i], v[2 * i + 1], r, point)
        }
        val tm = f.result.timings
        val state = when {
            f.result.landmarks == null -> "no face"
            f.result.detected -> "detected"
            else -> "tracking"
        }
        canvas.drawText(f.modelLabel, 16f, y, text)
        y += text.textSize * 1.3f
        canvas.drawText(String.format("model %.1f ms  frame %.1f ms  %.0f FPS  %s", tm.inferenceMs, tm.totalMs, f.fps, state), 16f, y, text)
        if (tm.detectMs > 0) canvas.drawText(String.format("detector %.1f ms", tm.detectMs), 16f, y + text.textSize * 1.3f, text)
    }
}
