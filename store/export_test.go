package store

// CollectValueLog is one round of RunValueLogGC, for the tests.
var CollectValueLog = collectValueLog
