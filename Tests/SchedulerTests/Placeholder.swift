import Testing

@Test func placeholder_SchedulerTests() {}
