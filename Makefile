# vessel: convenience entry points (the build itself is CMake).
#   make run    install dependencies, build, boot the default guest
#   make test   install dependencies, build (plain and ASan+UBSan), run every test
BUILD ?= build
BUILD_SAN ?= build-san
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build build-san run test test-plain test-san bench clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-san: deps
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DVESSEL_ASAN=ON -DVESSEL_UBSAN=ON >/dev/null
	@cmake --build $(BUILD_SAN) -j $(JOBS)

run: build
	$(BUILD)/vessel -nographic -bios $(BUILD)/demo.bin -debugcon stdio \
	    -device isa-debug-exit,iobase=0xf4,iosize=4; s=$$?; [ $$s -eq 1 ] || exit $$s

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-san: build-san
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j $(JOBS) -LE qemu

test: test-plain test-san

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
