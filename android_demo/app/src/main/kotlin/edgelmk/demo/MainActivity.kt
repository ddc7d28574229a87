package edgelmk.demo

import android.Manifest
import android.content.pm.PackageManager
import android.os.Bundle
import android.util.Size
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.Spinner
import android.widget.Switch
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.Preview
import androidx.camera.core.resolutionselector.AspectRatioStrategy
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import edgelmk.core.ModelCatalog
import edgelmk.core.ModelEntry
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Live demo: camera preview, 68 landmarks drawn over it, latency and FPS on screen, a
 * backend switch (ExecuTorch .pte <-> LiteRT .tflite) and a model picker. Everything the
 * app runs comes from assets/ (see android_demo/README.md); nothing is downloaded.
 */
class MainActivity : ComponentActivity() {
    private lateinit var overlay: OverlayView
    private lateinit var previewView: PreviewView
    private lateinit var modelSpinner: Spinner
    private lateinit var backendSwitch: Switch
    private val analysisExecutor: ExecutorService = Executors.newSingleThreadExecutor()
    private val loader: ExecutorService = Executors.newSingleThreadExecutor()
    private var analyzer: FrameAnalyzer? = null
    private var detector: BlazeFaceDetector? = null
    private var models: List<ModelEntry> = emptyList()
    private var shown: List<ModelEntry> = emptyList()
    private var front = true
    private val threads = minOf(4, Runtime.getRuntime().availableProcessors())

    private val askCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) bindCamera() else overlay.message = getString(R.string.camera_denied)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        overlay = findViewById(R.id.overlay)
        previewView = findViewById(R.id.preview)
        modelSpinner = findViewById(R.id.model)
        backendSwitch = findViewById(R.id.backend)
        val files = AssetFiles(this)

        models = try { files.models() } catch (e: IllegalArgumentException) { overlay.message = e.message; emptyList() }
        if (models.isEmpty()) { overlay.message = overlay.message ?: getString(R.string.no_models); return }
        if (!files.hasDetector()) { overlay.message = getString(R.string.no_detector); return }

        val det = BlazeFaceDetector(files.file(ModelCatalog.DETECTOR_FILE)).also { detector = it }
        analyzer = FrameAnalyzer(det) { frame -> overlay.show(frame) }

        backendSwitch.isChecked = models.none { it.isExecuTorch }
        backendSwitch.setOnCheckedChangeListener { _, _ -> showModels(files) }
        modelSpinner.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = load(files, shown[position])
            override fun onNothingSelected(parent: AdapterView<*>?) {}
        }
        findViewById<Button>(R.id.flip).setOnClickListener { front = !front; analyzer?.resetTracking(); bindCamera() }
        showModels(files)

        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) bindCamera()
        else askCamera.launch(Manifest.permission.CAMERA)
    }

    /** Fill the picker with the selected backend's models, keeping the same model if it exists there. */
    private fun showModels(files: AssetFiles) {
        val litert = backendSwitch.isChecked
        val previous = shown.getOrNull(modelSpinner.selectedItemPosition)
        shown = models.filter { it.isExecuTorch != litert }
        if (shown.isEmpty()) {
            overlay.message = "no ${if (litert) ".tflite" else ".pte"} models in assets"
            modelSpinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, emptyList<String>())
            return
        }
        overlay.message = null
        modelSpinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, shown.map { it.label })
        val keep = shown.indexOfFirst { it.model == previous?.model && it.precision == previous.precision }
            .takeIf { it >= 0 } ?: shown.indexOfFirst { it.model == previous?.model }.takeIf { it >= 0 } ?: 0
        modelSpinner.setSelection(keep)
        load(files, shown[keep])
    }

    private fun load(files: AssetFiles, entry: ModelEntry) {
        loader.execute {
            try {
                analyzer?.setModel(Runtimes.load(entry, files.file(entry.file), threads))
            } catch (e: Exception) {  // a bad artifact must not take the app down; say which
                runOnUiThread { overlay.message = "${entry.file}: ${e.message}" }
            }
        }
    }

    private fun bindCamera() {
        val a = analyzer ?: return
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            val provider = future.get()
            // same 4:3 aspect for preview and analysis so overlay coordinates line up (ViewTransform)
            val aspect = AspectRatioStrategy.RATIO_4_3_FALLBACK_AUTO_STRATEGY
            val preview = Preview.Builder()
                .setResolutionSelector(ResolutionSelector.Builder().setAspectRatioStrategy(aspect).build())
                .build()
            preview.setSurfaceProvider(previewView.surfaceProvider)
            val analysis = ImageAnalysis.Builder()
                .setResolutionSelector(ResolutionSelector.Builder().setAspectRatioStrategy(aspect)
                    .setResolutionStrategy(ResolutionStrategy(Size(640, 480), ResolutionStrategy.FALLBACK_RULE_CLOSEST_HIGHER_THEN_LOWER))
                    .build())
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            analysis.setAnalyzer(analysisExecutor, a)
            overlay.mirror = front  // PreviewView shows the front camera mirrored; the model sees it unmirrored
            val selector = if (front) CameraSelector.DEFAULT_FRONT_CAMERA else CameraSelector.DEFAULT_BACK_CAMERA
            provider.unbindAll()
            provider.bindToLifecycle(this, selector, preview, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    override fun onDestroy() {
        super.onDestroy()
        loader.shutdown()
        analysisExecutor.execute { analyzer?.close(); detector?.close() }  // after the last frame
        analysisExecutor.shutdown()
    }
}
