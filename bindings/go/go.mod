module pagedrange.dev/pagedrange

go 1.23
