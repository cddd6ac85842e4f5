"""Housing's service layer: use cases on a unit of work (ports.HousingUnitOfWork); no SQL, no HTTP."""
