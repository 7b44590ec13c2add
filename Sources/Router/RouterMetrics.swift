import CoreMetrics
import Metrics
import Prometheus
import Synchronization

/// The router's own series, through swift-metrics into a Prometheus registry of its own (no global bootstrap, so
/// several routers can live in one test process). Base units, `_total` counters, a `model` label.
public final class RouterMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    /// Each model's request series, made once: a series made per request (the registry's lookup, label checks)
    /// was a few percent of the router's time per small request.
    private let requestSeries = Mutex<[String: RequestSeries]>([:])
    /// Each model's in-flight gauge, made once (it changes twice a request).
    private let inFlightGauges = Mutex<[String: CoreMetrics.Gauge]>([:])

    private struct RequestSeries {
        var statuses: [Int: CoreMetrics.Counter] = [:]
        var timeToFirstByte: Metrics.Timer
        var duration: Metrics.Timer
    }

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let latency: [Duration] = [
            .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
            .milliseconds(250), .seconds(1), .milliseconds(2500), .seconds(10), .seconds(30), .seconds(60),
            .seconds(300),
        ]
        factory.defaultDurationHistogramBuckets = latency
        self.factory = factory
    }

    /// One proxied or refused request.
    public func request(model: String, status: Int, timeToFirstByte: Duration?, duration: Duration) {
        let (count, firstByteTimer, durationTimer) = requestSeries.withLock { all in
            var series =
                all[model]
                ?? RequestSeries(
                    timeToFirstByte: Metrics.Timer(
                        label: "llama_orch_router_time_to_first_byte_seconds", dimensions: [("model", model)],
                        preferredDisplayUnit: .seconds, factory: factory),
                    duration: Metrics.Timer(
                        label: "llama_orch_router_request_duration_seconds", dimensions: [("model", model)],
                        preferredDisplayUnit: .seconds, factory: factory))
            let count =
                series.statuses[status]
                ?? CoreMetrics.Counter(
                    label: "llama_orch_router_requests_total",
                    dimensions: [("model", model), ("status", String(status))], factory: factory)
            series.statuses[status] = count
            all[model] = series
            return (count, series.timeToFirstByte, series.duration)
        }
        count.increment()
        if let timeToFirstByte { firstByteTimer.recordNanoseconds(Self.nanoseconds(timeToFirstByte)) }
        durationTimer.recordNanoseconds(Self.nanoseconds(duration))
    }

    public func inFlight(model: String, _ count: Int) {
        let gauge = inFlightGauges.withLock { gauges in
            if let gauge = gauges[model] { return gauge }
            let gauge = CoreMetrics.Gauge(
                label: "llama_orch_router_in_flight_requests", dimensions: [("model", model)], factory: factory)
            gauges[model] = gauge
            return gauge
        }
        gauge.record(count)
    }

    func queued(_ count: Int) {
        Gauge(label: "llama_orch_router_queued_requests", factory: factory).record(count)
    }

    func loadFinished(_ model: String, ok: Bool, duration: Duration) {
        Counter(
            label: "llama_orch_router_loads_total", dimensions: [("model", model), ("result", ok ? "ok" : "failed")],
            factory: factory
        ).increment()
        Metrics.Timer(
            label: "llama_orch_router_load_duration_seconds", dimensions: [("model", model)],
            preferredDisplayUnit: .seconds, factory: factory
        ).recordNanoseconds(Self.nanoseconds(duration))
    }

    func unloaded(_ model: String, reason: LoadScheduler.UnloadReason) {
        Counter(
            label: "llama_orch_router_unloads_total", dimensions: [("model", model), ("reason", reason.rawValue)],
            factory: factory
        ).increment()
    }

    /// The state of each routable instance (1 for its current state) and its restarts, set before each scrape.
    public func instances(_ states: [(model: String, state: String, restarts: Int)]) {
        let all = ["unloaded", "loading", "loaded", "failed"]
        for entry in states {
            for state in all {
                Gauge(
                    label: "llama_orch_instance_state", dimensions: [("model", entry.model), ("state", state)],
                    factory: factory
                ).record(state == entry.state ? 1 : 0)
            }
            Gauge(label: "llama_orch_instance_restarts", dimensions: [("model", entry.model)], factory: factory)
                .record(entry.restarts)
        }
    }

    /// The registry in Prometheus text format.
    public func text() -> String {
        registry.emitToString()
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}
