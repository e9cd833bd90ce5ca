package scan

// UdevLinks exposes udevLinks to the tests.
var UdevLinks = udevLinks
