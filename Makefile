# salon — one Makefile, objects per variant under build/<variant>/.
#   make            build build/release/salon
#   make run        install what is missing, build, run on embedded defaults
#   make test       install what is missing, build, run unit, black-box and browser tests
#   make asan       build and run every test under ASan+UBSan
#   make fuzz       build libFuzzer harnesses (clang) and run each briefly
#   make bench      build the load generator
#   make deps       install Debian packages the build and tests need

VARIANT  ?= release
BUILD    := build/$(VARIANT)
CC       ?= gcc
# Debian's interpreter, where apt puts python3-pytest (not a pyenv shim).
PYTHON   ?= /usr/bin/python3
PKGS     := libsodium sqlite3 libcrypto jansson icu-uc icu-i18n libhs libpcre2-8 liburing
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lpthread

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wvla
CFLAGS_release := -O2 -g
CFLAGS_asan    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                  -fno-sanitize-recover=all
LDFLAGS_asan   := -fsanitize=address,undefined
CFLAGS   := -std=c17 -D_GNU_SOURCE $(CFLAGS_$(VARIANT)) $(WARN) -Isrc $(PKG_CFLAGS) -MMD -MP
LDFLAGS  := $(LDFLAGS_$(VARIANT))

SRC      := $(shell find src -name '*.c' ! -name main.c | sort)
OBJ      := $(SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/src/main.o
BIN      := $(BUILD)/salon

UNIT_SRC := $(wildcard tests/unit/*_test.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all run test unit blackbox browser asan fuzz bench clean deps
all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libsalon.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(BUILD)/libsalon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsalon.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsalon.a $(PKG_LIBS) -lcriterion

deps:
	@scripts/deps.sh

run: deps $(BIN)
	./$(BIN) $(if $(wildcard salon.conf),--config salon.conf,)

unit: $(UNIT_BIN)
	@scripts/run-unit.sh $(UNIT_BIN)

blackbox: $(BIN)
	SALON_BIN=$(abspath $(BIN)) $(PYTHON) -m pytest -q tests/blackbox

# Headless Chromium against the real binary (installs chromium and the npm
# packages from tests/browser/package-lock.json when missing).
browser: $(BIN)
	SALON_BIN=$(abspath $(BIN)) tests/browser/run.sh

test: deps
	$(MAKE) unit blackbox browser

asan: deps
	$(MAKE) VARIANT=asan unit blackbox

fuzz: deps
	@scripts/fuzz.sh

bench: deps
	$(MAKE) -C bench

clean:
	rm -rf build
	$(MAKE) -C bench clean 2>/dev/null || true

-include $(OBJ:.o=.d) $(MAIN_OBJ:.o=.d)
