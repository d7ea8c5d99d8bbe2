# crest: checkpoint/restart for Linux processes.
#
#   make                 tools and libraries in build/
#   make SAN=1           the same with ASan and UBSan, in build-asan/
#   make check           build, then run every test (scripts/test.sh does the setup too)
#   make install         PREFIX=/usr/local DESTDIR=
#   make WERROR=1        warnings are errors (CI)

CC       ?= gcc
PREFIX   ?= /usr/local
DESTDIR  ?=
SAN      ?= 0
WERROR   ?= 0
ifeq ($(SAN),1)
BUILD    ?= build-asan
else
BUILD    ?= build
endif

WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
            -Wvla -Wwrite-strings -Wundef -Wimplicit-fallthrough
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -D_GNU_SOURCE $(WARN) -fno-strict-aliasing
LDLIBS   := -lisal -lpthread
ifeq ($(WERROR),1)
CFLAGS   += -Werror
endif
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

ENGINE_SRCS := $(wildcard src/util/*.c src/engine/*.c src/engine/state/*.c \
                 src/engine/arch/x86_64/*.c)
ENGINE_OBJS := $(ENGINE_SRCS:%.c=$(BUILD)/obj/%.o)
TOOL_NAMES  := cr_checkpoint cr_restart cr_info
TOOLS       := $(TOOL_NAMES:%=$(BUILD)/bin/%)
TOOLCOMMON  := $(BUILD)/obj/src/tools/common.o $(BUILD)/obj/src/tools/opts.o

all: $(TOOLS)

$(BUILD)/libcrest.a: $(ENGINE_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/obj/src/tools/%.o $(TOOLCOMMON) $(BUILD)/libcrest.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Isrc -MMD -MP -c -o $@ $<

-include $(ENGINE_OBJS:.o=.d) $(TOOLS:$(BUILD)/bin/%=$(BUILD)/obj/src/tools/%.d)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	@if ls docs/man/*.1 >/dev/null 2>&1; then \
		install -d $(DESTDIR)$(PREFIX)/share/man/man1; \
		install -m 644 docs/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/; fi
	@if ls include/*.h >/dev/null 2>&1; then \
		install -d $(DESTDIR)$(PREFIX)/include; \
		install -m 644 include/*.h $(DESTDIR)$(PREFIX)/include/; fi

clean:
	rm -rf build build-asan

.PHONY: all clean install
# Keep the objects of pattern chains (tool common objects) instead of deleting them.
.SECONDARY:

# ---- tests ----
# Test programs are plain builds whatever SAN says: a sanitizer's shadow memory would
# be checkpointed with them. Unit tests link the engine as built (with SAN=1, under
# the sanitizers too).
TBUILD      := $(BUILD)/tests
TEST_CFLAGS := -std=gnu11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Wno-unused-parameter -pthread \
               -Itests/lib
STATE_BINS  := $(patsubst tests/state/%.c,$(TBUILD)/state/%,$(wildcard tests/state/*.c))
FAIL_BINS   := $(patsubst tests/fail/%.c,$(TBUILD)/fail/%,$(wildcard tests/fail/*.c))
UNIT_BINS   := $(patsubst tests/unit/%.c,$(TBUILD)/unit/%,$(wildcard tests/unit/*.c))

$(TBUILD)/ct_run: tests/lib/ct_run.c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $<

$(TBUILD)/state/%: tests/state/%.c tests/lib/ct.c tests/lib/ct.h
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -MMD -MP -o $@ $< tests/lib/ct.c -lrt

-include $(STATE_BINS:=.d)

$(TBUILD)/fail/%: tests/fail/%.c
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $<

$(TBUILD)/unit/%: tests/unit/%.c $(TOOLCOMMON) $(BUILD)/libcrest.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Isrc -Itests/lib -o $@ $^ $(LDFLAGS) -lcmocka $(LDLIBS)

test-progs: $(TBUILD)/ct_run $(STATE_BINS) $(FAIL_BINS) $(UNIT_BINS) build/examples/counter

# Everything the tests need, in both builds; then every test.
check:
	$(MAKE) WERROR=$(WERROR) all test-progs
	$(MAKE) WERROR=$(WERROR) SAN=1 all test-progs
	tests/run-tests.sh

.PHONY: test-progs check

# ---- examples ----
build/examples/%: examples/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -o $@ $<

# ---- benchmark ----
$(BUILD)/bench/bench: bench/bench.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -pthread -o $@ $<

bench: all $(BUILD)/bench/bench
	CR_CHECKPOINT=$(BUILD)/bin/cr_checkpoint CR_RESTART=$(BUILD)/bin/cr_restart \
		$(BUILD)/bench/bench

.PHONY: bench

# ---- libcr: libcr.so.0, libcr_run.so.0, libcr_omit.so.0, cr_run ----
# The libraries live inside other programs: always plain builds (no sanitizer, whatever
# SAN says), position independent, nothing exported but BLCR's API (hidden visibility
# and a version script per library), never unloaded (a handler stays installed).
LIBCR_VER    := 0.5.5
LIBCR_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) -fno-strict-aliasing -O2 -g -fPIC \
                -fvisibility=hidden -Iinclude -Isrc -DCREST_PREFIX='"$(PREFIX)"'
ifeq ($(WERROR),1)
LIBCR_CFLAGS += -Werror
endif
LIBCR_LDFLAGS := -shared -Wl,-z,nodelete -Wl,-z,now -Wl,-z,relro -Wl,--no-undefined
LIBCR_CORE   := ctl sys
LIBCR_FULL   := $(LIBCR_CORE) cb req spawn misc
LIBCR_LIBDIR := $(BUILD)/lib
LIBCR_NAMES  := libcr libcr_run libcr_omit
LIBCR_LIBS   := $(foreach l,$(LIBCR_NAMES),$(LIBCR_LIBDIR)/$(l).so.$(LIBCR_VER) \
                  $(LIBCR_LIBDIR)/$(l).so.0 $(LIBCR_LIBDIR)/$(l).so)
LIBCR_HDRS   := $(wildcard include/*.h) src/libcr/ctl.h src/libcr/lib.h

$(BUILD)/obj/libcr/%.full.o: src/libcr/%.c $(LIBCR_HDRS)
	@mkdir -p $(@D)
	$(CC) $(LIBCR_CFLAGS) -DLIBCR_KIND=1 -c -o $@ $<
$(BUILD)/obj/libcr/%.run.o: src/libcr/%.c $(LIBCR_HDRS)
	@mkdir -p $(@D)
	$(CC) $(LIBCR_CFLAGS) -DLIBCR_KIND=2 -c -o $@ $<
$(BUILD)/obj/libcr/%.omit.o: src/libcr/%.c $(LIBCR_HDRS)
	@mkdir -p $(@D)
	$(CC) $(LIBCR_CFLAGS) -DLIBCR_KIND=3 -c -o $@ $<

$(LIBCR_LIBDIR)/libcr.so.$(LIBCR_VER): $(LIBCR_FULL:%=$(BUILD)/obj/libcr/%.full.o) src/libcr/libcr.map
	@mkdir -p $(@D)
	$(CC) $(LIBCR_LDFLAGS) -Wl,-soname,libcr.so.0 -Wl,--version-script=src/libcr/libcr.map \
		-o $@ $(filter %.o,$^) -lpthread -ldl
$(LIBCR_LIBDIR)/libcr_run.so.$(LIBCR_VER): $(LIBCR_CORE:%=$(BUILD)/obj/libcr/%.run.o) src/libcr/libcr_run.map
	@mkdir -p $(@D)
	$(CC) $(LIBCR_LDFLAGS) -Wl,-soname,libcr_run.so.0 -Wl,--version-script=src/libcr/libcr_run.map \
		-o $@ $(filter %.o,$^) -lpthread -ldl
$(LIBCR_LIBDIR)/libcr_omit.so.$(LIBCR_VER): $(LIBCR_CORE:%=$(BUILD)/obj/libcr/%.omit.o) src/libcr/libcr_omit.map
	@mkdir -p $(@D)
	$(CC) $(LIBCR_LDFLAGS) -Wl,-soname,libcr_omit.so.0 -Wl,--version-script=src/libcr/libcr_omit.map \
		-o $@ $(filter %.o,$^) -lpthread -ldl
$(LIBCR_LIBDIR)/%.so.0: $(LIBCR_LIBDIR)/%.so.$(LIBCR_VER)
	ln -sf $(notdir $<) $@
$(LIBCR_LIBDIR)/%.so: $(LIBCR_LIBDIR)/%.so.0
	ln -sf $(notdir $<) $@

$(BUILD)/bin/cr_run: src/tools/cr_run
	@mkdir -p $(@D)
	sed 's/@CREST_VERSION@/$(shell sed -n 's/^#define CREST_VERSION "\(.*\)"/\1/p' src/engine/version.h)/' $< > $@
	chmod 755 $@

libcr: $(LIBCR_LIBS) $(BUILD)/bin/cr_run
all: libcr

install: install-libcr
install-libcr: libcr
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin
	for l in $(LIBCR_NAMES); do \
		install -m 755 $(LIBCR_LIBDIR)/$$l.so.$(LIBCR_VER) $(DESTDIR)$(PREFIX)/lib/ && \
		ln -sf $$l.so.$(LIBCR_VER) $(DESTDIR)$(PREFIX)/lib/$$l.so.0 && \
		ln -sf $$l.so.0 $(DESTDIR)$(PREFIX)/lib/$$l.so || exit 1; done
	install -m 755 $(BUILD)/bin/cr_run $(DESTDIR)$(PREFIX)/bin/
	@if ls docs/man/*.3 >/dev/null 2>&1; then \
		install -d $(DESTDIR)$(PREFIX)/share/man/man3; \
		install -m 644 docs/man/*.3 $(DESTDIR)$(PREFIX)/share/man/man3/; fi

.PHONY: libcr install-libcr

# Test programs of tests/libcr: NAME.c links libcr, plain_NAME.c does not (cr_run
# targets, dlopen). Plain builds, run with the library of this build directory.
LIBCR_TESTS  := $(patsubst tests/libcr/%.c,$(TBUILD)/libcr/%,$(wildcard tests/libcr/*.c))
$(TBUILD)/libcr/plain_%: tests/libcr/plain_%.c tests/libcr/lt.h $(LIBCR_LIBS)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -Iinclude -o $@ $< -ldl
$(TBUILD)/libcr/%: tests/libcr/%.c tests/libcr/lt.h $(LIBCR_LIBS)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -Iinclude -o $@ $< -L$(LIBCR_LIBDIR) -Wl,-rpath,$(abspath $(LIBCR_LIBDIR)) \
		-lcr -u cr_link_me -ldl
$(TBUILD)/examples/%: examples/%.c $(LIBCR_LIBS)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -Iinclude -o $@ $< -L$(LIBCR_LIBDIR) -Wl,-rpath,$(abspath $(LIBCR_LIBDIR)) \
		-lcr -u cr_link_me
test-progs: $(LIBCR_TESTS) $(TBUILD)/examples/libcr_reconnect
