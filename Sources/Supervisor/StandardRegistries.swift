import OrchestratorCore

// The registries the entry point starts from; configs name their entries.

extension Registry where Entry == any HealthChecker {
    /// The built-in health checkers, under the names configs use (`BuiltInNames.healthCheckers`).
    public static var standardHealthCheckers: Registry<any HealthChecker> {
        Registry(
            kind: "health checker",
            [
                ("http", HTTPHealthChecker()),
                ("tcp", TCPHealthChecker()),
                ("process", ProcessHealthChecker()),
                ("inference", InferenceHealthChecker()),
            ])
    }
}

extension Registry where Entry == any RestartPolicy {
    /// The built-in restart policies, under the names configs use (`BuiltInNames.restartPolicies`).
    public static var standardRestartPolicies: Registry<any RestartPolicy> {
        Registry(
            kind: "restart policy",
            [
                ("never", NeverRestartPolicy()),
                ("on-failure", OnFailureRestartPolicy()),
                ("always", AlwaysRestartPolicy()),
                ("unless-stopped", UnlessStoppedRestartPolicy()),
            ])
    }
}
