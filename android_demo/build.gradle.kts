// Plugins are declared here once (versions from gradle/libs.versions.toml) and applied per module.
// The app uses AGP 9's built-in Kotlin; the pure JVM core uses the Kotlin JVM plugin.
plugins {
    alias(libs.plugins.android.application) apply false
    alias(libs.plugins.kotlin.jvm) apply false
}
