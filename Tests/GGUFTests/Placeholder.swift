import Testing

@Test func placeholder_GGUFTests() {}
