/*
 * mdlos.h: the umbrella header for drivers and tests, the way a WDM driver
 * includes wdm.h: every component's public header. Drivers include this
 * and nothing else; a test that must look inside a component adds
 * kernel/ktest/kt_internal.h (docs/testing.md).
 */
#pragma once
#include "kernel/ke/ke.h"
#include "kernel/rtl/rtl.h"
#include "kernel/ex/ex.h"
#include "kernel/hal/hal.h"
#include "kernel/kd/kd.h"
#include "kernel/ps/ps.h"
#include "mm/mm.h"
#include "io/io.h"
#include "kernel/ktest/ktest.h"
