package ringfence.gates_test

test_placeholder if true
