import Foundation
import OrchestratorCore

/// The delay before each restart: `initial_delay × backoff_multiplier^(n−1)`, capped at `max_delay`, spread
/// by `jitter`.
///
/// Jitter spreads the delay uniformly over ±`jitter` of itself so that instances that crash together don't
/// restart together; the result is clamped to `0...max_delay`, so the cap is a real upper bound.
public struct ExponentialBackoff: Sendable, Equatable {
    /// Seconds before the first restart.
    public var initialDelay: Double
    /// Growth of the delay per restart (≥ 1).
    public var multiplier: Double
    /// Seconds no delay exceeds.
    public var maxDelay: Double
    /// Random spread, a fraction of the delay (0...1).
    public var jitter: Double

    public init(initialDelay: Double, multiplier: Double, maxDelay: Double, jitter: Double) {
        self.initialDelay = max(0, initialDelay)
        self.multiplier = max(1, multiplier)
        self.maxDelay = max(0, maxDelay)
        self.jitter = min(1, max(0, jitter))
    }

    /// Builds the backoff from an instance's `restart_policy` settings.
    public init(settings: InstanceConfig.RestartPolicySettings) {
        self.init(
            initialDelay: settings.initialDelay, multiplier: settings.backoffMultiplier, maxDelay: settings.maxDelay,
            jitter: settings.jitter)
    }

    /// The delay before restart number `restart` (1 for the first), in seconds, without jitter.
    public func baseDelay(forRestart restart: Int) -> Double {
        let exponent = Double(max(0, restart - 1))
        let grown = initialDelay * pow(multiplier, exponent)
        return grown.isFinite ? min(grown, maxDelay) : maxDelay
    }

    /// The delay before restart number `restart`, with jitter from `sample` (uniform in `0..<1`).
    public func delay(forRestart restart: Int, sample: Double) -> Duration {
        let base = baseDelay(forRestart: restart)
        let spread = base * jitter * (2 * min(1, max(0, sample)) - 1)
        return .seconds(min(maxDelay, max(0, base + spread)))
    }
}
