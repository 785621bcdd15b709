test('empty', () => {});
