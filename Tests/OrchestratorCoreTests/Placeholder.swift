import Testing

@Test func placeholder_OrchestratorCoreTests() {}
