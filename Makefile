# vessel: convenience entry points (the build itself is CMake).
#   make run    install dependencies, build vessel and the default Debian guest, boot it
#   make demo   the bare-metal demo program
#   make test   install dependencies, build (plain and ASan+UBSan), run every test
BUILD ?= build
BUILD_SAN ?= build-san
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build build-san guest run demo test test-plain test-san bench clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-san: deps
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DVESSEL_ASAN=ON -DVESSEL_UBSAN=ON >/dev/null
	@cmake --build $(BUILD_SAN) -j $(JOBS)

run: build guest
	$(BUILD)/vessel -m 256 -nographic -hda $(BUILD)/guest/disk.img

demo: build
	$(BUILD)/vessel -display none -bios $(BUILD)/demo.bin -debugcon stdio \
	    -device isa-debug-exit,iobase=0xf4,iosize=4; s=$$?; [ $$s -eq 1 ] || exit $$s

guest: deps
	@bash scripts/build-guest.sh $(BUILD)/guest

test-plain: build guest
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-san: build-san
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j $(JOBS) -LE 'qemu|linux'

test: test-plain test-san

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
