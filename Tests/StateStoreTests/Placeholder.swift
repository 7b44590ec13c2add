import Testing

@Test func placeholder_StateStoreTests() {}
