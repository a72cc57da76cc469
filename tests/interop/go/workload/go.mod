module stacksight.test/workload

go 1.22
