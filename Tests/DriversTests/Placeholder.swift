import Testing

@Test func placeholder_DriversTests() {}
